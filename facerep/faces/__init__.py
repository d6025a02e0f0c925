"""Face detection (RetinaFace backends), crop and alignment geometry, and the detect stage."""
