"""downstream/datasets"""
