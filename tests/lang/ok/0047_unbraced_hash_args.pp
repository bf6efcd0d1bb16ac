$v = get(a => undef, 'a')
$r = run_task('mymod::install', $targets, 'version' => '1.0', 'force' => true)
$a = [1, a => 2, b => 3]
