User <| |>
User <| title == 'alice' or groups == 'admin' |>
Nagios_service <<| tag == $facts['domain'] |>>
Package <| tag == 'web' and (provider == 'apt' or ensure != absent) |> {
  ensure => latest,
}
Concat::Fragment <<| |>> { target +> '/x' }
