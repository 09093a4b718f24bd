"""The checks of scripts/check_k8s_contract.py, one module per concern."""
