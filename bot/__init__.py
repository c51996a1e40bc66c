"""autopost: post every new blog article to X, LinkedIn, a Facebook Page, Bluesky, Mastodon and
Instagram, exactly once."""

__version__ = "0.1.0"
