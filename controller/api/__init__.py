"""The Rollout API (``landinggear.dev/v1alpha1``): models and the generated CRD."""
