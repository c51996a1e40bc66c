"""autopost: post every new blog article to X, LinkedIn and a Facebook Page, exactly once."""

__version__ = "0.1.0"
