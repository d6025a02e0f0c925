"""ssl/methods"""
