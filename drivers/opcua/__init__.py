"""OPC UA driver (asyncua): subscriptions or polling, resolution on every connect, security and PKI."""
