"""Provider credentials: where tokens come from and how the proxy gets them."""
