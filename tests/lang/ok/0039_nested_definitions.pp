class outer {
  class inner {
    define innerdef { }
  }
  function outer::helper() { 1 }
}
