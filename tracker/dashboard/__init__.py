"""The pages people use: overview, links, minting, orders and spend, behind a sign-in."""
