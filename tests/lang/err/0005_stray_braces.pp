}
class a {
  notify { 'x': }
}}
$after = 1
