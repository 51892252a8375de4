"""Page scripts for st.navigation (a package so that non-editable installs ship them)."""
