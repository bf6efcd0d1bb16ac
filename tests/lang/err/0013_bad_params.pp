class a (String x, $y = 1, Integer) {
  notify { 'body parsed': }
}
define b ($ok, 42) {}
