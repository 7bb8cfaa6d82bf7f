{
  "targets": [
    {
      "target_name": "peercred",
      "sources": ["src/peercred.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
