case $x {
  'a' { notice('a') }
  'b': { notice('b') }
  default: { }
}
