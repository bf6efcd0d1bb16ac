$name = 'db'
$config = @("CONF":json/L)
  {
    "name": "${name}",
    "port": $port, \
  "joined": true
  }
  | CONF
$a = [@(A), @(B)]
  first
  A
  second
  B
$escapes = @(X/tn)
  col1\tcol2\nline
  X
notice($config)
