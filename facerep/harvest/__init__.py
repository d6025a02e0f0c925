"""harvest: Flickr by tag, VoxCeleb frames, local folders and SynthFaces into one resumable manifest.

See docs/harvest.md; the stage entry point is `facerep.harvest.stage.run`.
"""
