User <| title == |>
Package <| |> { ensure => }
$ok = 1
