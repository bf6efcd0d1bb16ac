function mymod::double(Integer $x) >> Integer {
  $x * 2
}
function mymod::greet(String $name, Optional[String] $greeting = undef, *$rest) >> String[1] {
  "${pick($greeting, 'hello')} ${name}"
}
function mymod::noargs {
  return(1)
}
function mymod::typed() >> Hash[String, Variant[String, Integer]] { {} }
