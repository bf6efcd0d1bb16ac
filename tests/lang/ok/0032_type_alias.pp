type Mymod::Port = Integer[1, 65535]
type Mymod::Ensure = Enum['present', 'absent']
type Mymod::Config = Struct[{
  name           => String[1],
  Optional[port] => Mymod::Port,
}]
type Mymod::Value = Variant[String, Array[String], Hash[String, Mymod::Value]]
