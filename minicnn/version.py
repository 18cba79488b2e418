"""minicnn's version (``torch.version``'s counterpart): a leaf module, so that anything in the
package can read it without importing the package itself."""
__version__ = "0.1.0"
