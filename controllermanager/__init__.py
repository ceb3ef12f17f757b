"""controllermanager: filled by later issues."""
