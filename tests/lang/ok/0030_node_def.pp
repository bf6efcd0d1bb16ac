node 'web01.example.com', 'web02.example.com' {
  include role::web
}
node /^db\d+\.example\.com$/ {
  include role::db
}
node default {}
node web03.example.com, "quoted.example.com" { }
