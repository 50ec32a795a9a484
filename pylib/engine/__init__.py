"""pylib.engine"""
