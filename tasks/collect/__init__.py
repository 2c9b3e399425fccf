"""Live collectors: X/Twitter (tweepy), Reddit (praw), Instagram (instaloader)."""
