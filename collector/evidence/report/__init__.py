"""The pack's human side: README.html (bilingual, self-contained, inline SVG charts) and the
indicator cross-walk, rendered from summary.json alone — nothing here computes a figure."""
