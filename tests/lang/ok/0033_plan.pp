plan mymod::deploy(TargetSpec $targets, String $version = 'latest') {
  $result = run_task('mymod::install', $targets, version => $version)
  return $result
}
