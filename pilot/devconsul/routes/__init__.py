"""The HTTP API's endpoints, routed as Consul's ServeMux routes them: requests in, answers out."""
