{
  "targets": [
    {
      "target_name": "listenfd",
      "sources": ["src/listenfd.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
