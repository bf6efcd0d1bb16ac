function f($x) {
  if $x { return }
  next
}
$l = [1, 2].map |$x| {
  if $x == 1 { next(0) }
  break()
}
warning 'deprecated'
debug "dbg ${x}"
