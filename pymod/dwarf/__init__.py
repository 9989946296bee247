"""Source lines from DWARF: debug files read (``elfsections``), found
(``finder``), indexed in C (``native``) and the index cached (``cache``)."""
