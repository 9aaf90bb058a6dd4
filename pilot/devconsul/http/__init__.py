"""The HTTP side: requests read and answers written as Go's net/http and Consul do."""
