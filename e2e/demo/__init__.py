"""The README's main job: canary releases judged by metrics, on the local control plane."""
