$empty_array = []
$array = [1, 'two', [3, 4], { 'five' => 5 },]
$empty_hash = {}
$hash = {
  'key'   => 'value',
  bare    => true,
  type    => 'mysql',
  class   => 'apache',
  node    => 'x',
  default => undef,
  42      => [1, 2],
}
{ 'statement' => 'hash' }
