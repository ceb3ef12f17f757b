"""kubelet: filled by later issues."""
