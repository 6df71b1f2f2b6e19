"""The signing service: rendering and electronically signing output documents, public
verification.
"""
