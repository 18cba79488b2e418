"""Tools around the framework: gradient checking (more tools join in later issues)."""
from .gradcheck import GradcheckError, gradcheck
