# A file with only comments.
/* A multi-line
   comment */
# and another one
