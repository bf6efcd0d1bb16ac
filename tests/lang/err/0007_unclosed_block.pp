class a {
  if $x {
    notify { 'x': }
