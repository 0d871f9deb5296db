"""dbops squash: collapse a revision chain into one baseline rendered from the catalog, with a proof."""
