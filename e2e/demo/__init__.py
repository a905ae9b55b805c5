"""The README's main job: the local control plane, shown working."""
