"""napari dock widgets: thin Qt views over the Qt-free packages."""
