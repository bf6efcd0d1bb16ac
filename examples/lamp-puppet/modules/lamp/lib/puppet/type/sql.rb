# The Sql capability (a service resource type): what a database tells its consumers.
Puppet::Type.newtype :sql, :is_capability => true do
  newparam :name, :namevar => true
  newparam :user
  newparam :password
  newparam :host
  newparam :port
  newparam :database
end
