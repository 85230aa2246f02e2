"""analytics plugin: 100ms-style peer stats and Agora-style call analytics from our own data."""
