{
  "targets": [
    {
      "target_name": "rpmem_native",
      "sources": [
        "native/addon.cc",
        "native/args.cc",
        "native/cpu_features.cc",
        "native/crc32c.cc",
        "native/errors.cc",
        "native/flush.cc",
        "native/mapped_region.cc",
        "native/persist.cc",
        "native/pool_file.cc",
        "native/pool_mapping.cc",
        "native/recording.cc",
        "native/workers.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags!": ["-O3"],
      "cflags_cc!": ["-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"]
    }
  ]
}
