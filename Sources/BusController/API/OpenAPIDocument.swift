/// The API's OpenAPI 3.1 document (JSON Schema 2020-12), served at `/v1/openapi.json` (keep in step with `APIServer`).
enum OpenAPIDocument {
    static let text = #"""
{
 "components": {
  "responses": {
   "BadRequest": {
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    },
    "description": "a bad parameter or body; details name every bad field"
   },
   "Conflict": {
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    },
    "description": "the object is in a state that does not allow this (e.g. a quarantined workload)"
   },
   "Error": {
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    },
    "description": "an error: {\"error\": {\"code\", \"message\", \"details\"}}"
   },
   "Forbidden": {
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    },
    "description": "the token's role or tenant does not allow this"
   },
   "MethodNotAllowed": {
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    },
    "description": "the path exists with other methods",
    "headers": {
     "Allow": {
      "description": "the methods this path has",
      "schema": {
       "type": "string"
      }
     }
    }
   },
   "NotFound": {
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    },
    "description": "no such route or object"
   },
   "PayloadTooLarge": {
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    },
    "description": "the body is over 1 MiB (1048576 bytes)"
   },
   "Unauthorized": {
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    },
    "description": "no valid API token (missing, malformed, unknown, revoked, expired, or a join token)",
    "headers": {
     "WWW-Authenticate": {
      "description": "Bearer realm=\"backplane\"",
      "schema": {
       "type": "string"
      }
     }
    }
   }
  },
  "schemas": {
   "AllocatorForecast": {
    "properties": {
     "longCPUMillicores": {
      "type": "number"
     },
     "longMemoryBytes": {
      "type": "number"
     },
     "observedPoints": {
      "type": "integer"
     },
     "shortCPUMillicores": {
      "type": "number"
     },
     "shortMemoryBytes": {
      "type": "number"
     },
     "usageCPUMillicores": {
      "type": "number"
     },
     "usageMemoryBytes": {
      "type": "number"
     },
     "workload": {
      "type": "string"
     }
    },
    "required": [
     "workload",
     "observedPoints",
     "usageCPUMillicores",
     "usageMemoryBytes"
    ],
    "type": "object"
   },
   "AllocatorMove": {
    "properties": {
     "applied": {
      "type": "boolean"
     },
     "from": {
      "type": "string"
     },
     "held": {
      "type": [
       "string",
       "null"
      ]
     },
     "instance": {
      "type": "string"
     },
     "reason": {
      "type": "string"
     },
     "to": {
      "type": "string"
     }
    },
    "required": [
     "instance",
     "from",
     "to",
     "applied",
     "reason"
    ],
    "type": "object"
   },
   "AllocatorPlan": {
    "description": "the Resource Allocator's next plan, not applied (ARCHITECTURE.md, The allocator)",
    "properties": {
     "cardRequest": {
      "description": "bus-admin only: more cards needed, of the bus's usual shape",
      "properties": {
       "count": {
        "type": "integer"
       },
       "reason": {
        "type": "string"
       },
       "shape": {
        "$ref": "#/components/schemas/Resources"
       }
      },
      "type": [
       "object",
       "null"
      ]
     },
     "consolidated": {
      "description": "bus-admin only: cards the planned consolidation moves would empty",
      "items": {
       "type": "string"
      },
      "type": [
       "array",
       "null"
      ]
     },
     "forecasts": {
      "items": {
       "$ref": "#/components/schemas/AllocatorForecast"
      },
      "type": "array"
     },
     "idleCards": {
      "description": "bus-admin only: ready cards running nothing that nothing waits for",
      "items": {
       "properties": {
        "card": {
         "type": "string"
        },
        "costPerHour": {
         "type": "number"
        },
        "name": {
         "type": "string"
        }
       },
       "type": "object"
      },
      "type": "array"
     },
     "intervalSeconds": {
      "description": "seconds between plans; absent when the allocator is off",
      "type": [
       "number",
       "null"
      ]
     },
     "moves": {
      "items": {
       "$ref": "#/components/schemas/AllocatorMove"
      },
      "type": "array"
     },
     "resizes": {
      "items": {
       "$ref": "#/components/schemas/AllocatorResize"
      },
      "type": "array"
     },
     "scales": {
      "items": {
       "$ref": "#/components/schemas/AllocatorScale"
      },
      "type": "array"
     },
     "time": {
      "properties": {
       "nanoseconds": {
        "description": "since 1970",
        "type": "integer"
       }
      },
      "type": "object"
     }
    },
    "required": [
     "time",
     "resizes",
     "scales",
     "moves",
     "idleCards",
     "forecasts"
    ],
    "type": "object"
   },
   "AllocatorResize": {
    "properties": {
     "applied": {
      "type": "boolean"
     },
     "card": {
      "type": "string"
     },
     "from": {
      "$ref": "#/components/schemas/Resources"
     },
     "held": {
      "description": "why it is not made now (recommend mode, card full, churn budget)",
      "type": [
       "string",
       "null"
      ]
     },
     "instance": {
      "type": "string"
     },
     "reason": {
      "description": "the forecast and usage behind it",
      "type": "string"
     },
     "to": {
      "$ref": "#/components/schemas/Resources"
     },
     "wanted": {
      "$ref": "#/components/schemas/Resources",
      "description": "what it would grow to with room on its card, when that is more than to"
     }
    },
    "required": [
     "instance",
     "card",
     "from",
     "to",
     "applied",
     "reason"
    ],
    "type": "object"
   },
   "AllocatorScale": {
    "properties": {
     "from": {
      "type": "integer"
     },
     "reason": {
      "type": "string"
     },
     "recommended": {
      "type": "integer"
     },
     "to": {
      "type": "integer"
     },
     "workload": {
      "type": "string"
     }
    },
    "required": [
     "workload",
     "from",
     "to",
     "recommended",
     "reason"
    ],
    "type": "object"
   },
   "AuditEntry": {
    "description": "one change asked of the API (POST, PUT, DELETE to a known route), refused ones included",
    "properties": {
     "method": {
      "type": "string"
     },
     "role": {
      "description": "the token's role; absent for anonymous",
      "type": "string"
     },
     "route": {
      "type": "string"
     },
     "status": {
      "type": "integer"
     },
     "target": {
      "type": "string"
     },
     "tenant": {
      "description": "the token's tenant; absent for bus-admin and anonymous",
      "type": "string"
     },
     "time": {
      "description": "wall-clock time",
      "properties": {
       "nanoseconds": {
        "description": "since 1970",
        "type": "integer"
       }
      },
      "type": "object"
     },
     "who": {
      "description": "the token's id, or anonymous (no valid token: refused with 401)",
      "type": "string"
     }
    },
    "required": [
     "time",
     "who",
     "method",
     "route",
     "target",
     "status"
    ],
    "type": "object"
   },
   "BusEvent": {
    "properties": {
     "kind": {
      "type": "string"
     },
     "message": {
      "type": "string"
     },
     "tenant": {
      "description": "the tenant it concerns; absent for the bus's own events (cards), which only a bus-admin reads",
      "type": "string"
     },
     "time": {
      "properties": {
       "nanoseconds": {
        "description": "since 1970",
        "type": "integer"
       }
      },
      "type": "object"
     }
    },
    "type": "object"
   },
   "CardStatus": {
    "properties": {
     "allocated": {
      "$ref": "#/components/schemas/Resources"
     },
     "capacity": {
      "$ref": "#/components/schemas/Resources"
     },
     "gpuAllocatedMilli": {
      "type": "integer"
     },
     "gpus": {
      "items": {
       "type": "string"
      },
      "type": "array"
     },
     "heartbeatAgeMs": {
      "description": "milliseconds since the BMC last heard a heartbeat",
      "type": [
       "integer",
       "null"
      ]
     },
     "heartbeatRttUs": {
      "description": "the card's last heartbeat round trip in microseconds",
      "type": [
       "integer",
       "null"
      ]
     },
     "id": {
      "examples": [
       "c-0001-000000"
      ],
      "type": "string"
     },
     "instances": {
      "type": "integer"
     },
     "inventory": {
      "description": "the host's cores, memory, disks, network interfaces and PCI devices",
      "type": [
       "object",
       "null"
      ]
     },
     "linked": {
      "description": "whether its DCL link is up",
      "type": [
       "boolean",
       "null"
      ]
     },
     "name": {
      "type": "string"
     },
     "phi": {
      "description": "phi-accrual suspicion of the card (8 and above: suspect)",
      "type": [
       "number",
       "null"
      ]
     },
     "state": {
      "enum": [
       "joining",
       "ready",
       "draining",
       "lost",
       "removed",
       "suspect"
      ],
      "type": "string"
     }
    },
    "type": "object"
   },
   "Error": {
    "properties": {
     "error": {
      "properties": {
       "code": {
        "enum": [
         "bad_request",
         "invalid_spec",
         "not_found",
         "conflict",
         "unavailable",
         "internal",
         "method_not_allowed",
         "payload_too_large",
         "unauthorized",
         "forbidden"
        ],
        "type": "string"
       },
       "details": {
        "additionalProperties": {
         "type": "string"
        },
        "type": "object"
       },
       "message": {
        "type": "string"
       }
      },
      "required": [
       "code",
       "message",
       "details"
      ],
      "type": "object"
     }
    },
    "required": [
     "error"
    ],
    "type": "object"
   },
   "GPUDemand": {
    "properties": {
     "count": {
      "type": "integer"
     },
     "milliPerDevice": {
      "type": "integer"
     },
     "models": {
      "items": {
       "type": "string"
      },
      "type": "array"
     }
    },
    "type": "object"
   },
   "Instance": {
    "properties": {
     "card": {
      "type": [
       "string",
       "null"
      ]
     },
     "containerID": {
      "type": [
       "string",
       "null"
      ]
     },
     "exitCode": {
      "type": [
       "integer",
       "null"
      ]
     },
     "exitReason": {
      "description": "why its last incarnation ended",
      "type": [
       "string",
       "null"
      ]
     },
     "gpu": {
      "$ref": "#/components/schemas/GPUDemand"
     },
     "gpuDevices": {
      "items": {
       "type": "integer"
      },
      "type": "array"
     },
     "id": {
      "type": "string"
     },
     "incarnation": {
      "description": "grows with every placement; commands and reports carry it",
      "minimum": 0,
      "type": "integer"
     },
     "pendingReason": {
      "type": [
       "object",
       "null"
      ]
     },
     "pid": {
      "type": [
       "integer",
       "null"
      ]
     },
     "priority": {
      "type": "integer"
     },
     "ready": {
      "description": "its readiness probe's verdict (absent: no readiness probe)",
      "type": [
       "boolean",
       "null"
      ]
     },
     "requested": {
      "$ref": "#/components/schemas/Resources"
     },
     "restarts": {
      "type": "integer"
     },
     "runtime": {
      "type": [
       "string",
       "null"
      ]
     },
     "state": {
      "enum": [
       "pending",
       "starting",
       "running",
       "exited",
       "stopping",
       "stopped"
      ],
      "type": "string"
     },
     "tenant": {
      "type": "string"
     },
     "workload": {
      "type": "string"
     }
    },
    "type": "object"
   },
   "InstanceUsage": {
    "properties": {
     "card": {
      "type": "string"
     },
     "point": {
      "$ref": "#/components/schemas/UsagePoint"
     }
    },
    "required": [
     "card",
     "point"
    ],
    "type": "object"
   },
   "IssuedToken": {
    "description": "a new token: `token` is shown this once",
    "properties": {
     "created": {
      "description": "wall-clock time",
      "properties": {
       "nanoseconds": {
        "description": "since 1970",
        "type": "integer"
       }
      },
      "required": [
       "nanoseconds"
      ],
      "type": "object"
     },
     "description": {
      "type": "string"
     },
     "expires": {
      "description": "absent: never expires",
      "properties": {
       "nanoseconds": {
        "description": "since 1970",
        "type": "integer"
       }
      },
      "required": [
       "nanoseconds"
      ],
      "type": "object"
     },
     "id": {
      "description": "16 hex digits",
      "pattern": "^[0-9a-f]{16}$",
      "type": "string"
     },
     "role": {
      "enum": [
       "bus-admin",
       "tenant-admin",
       "operator",
       "viewer",
       "join"
      ],
      "type": "string"
     },
     "tenant": {
      "description": "absent for bus-admin and join tokens",
      "type": "string"
     },
     "token": {
      "description": "bpt_<id>.<secret>: send as Authorization: Bearer <token>",
      "pattern": "^bpt_[0-9a-f]{16}\\.[0-9a-f]{64}$",
      "type": "string"
     }
    },
    "required": [
     "token",
     "id",
     "role",
     "description",
     "created"
    ],
    "type": "object"
   },
   "MigrationReport": {
    "properties": {
     "bytes": {
      "type": "integer"
     },
     "choice": {
      "description": "why this target, when the engine chose it: balance (within one shard of the fewest), then the fastest copy over the links' bandwidth left",
      "type": [
       "string",
       "null"
      ]
     },
     "epoch": {
      "type": "integer"
     },
     "from": {
      "type": "string"
     },
     "fromCard": {
      "type": [
       "string",
       "null"
      ]
     },
     "outcome": {
      "enum": [
       "done",
       "aborted"
      ],
      "type": "string"
     },
     "pauseMilliseconds": {
      "description": "from the fence to the release of held requests",
      "type": [
       "number",
       "null"
      ]
     },
     "reason": {
      "type": [
       "string",
       "null"
      ]
     },
     "shard": {
      "type": "integer"
     },
     "steps": {
      "items": {
       "properties": {
        "detail": {
         "type": [
          "string",
          "null"
         ]
        },
        "milliseconds": {
         "type": "number"
        },
        "phase": {
         "type": "string"
        }
       },
       "required": [
        "phase",
        "milliseconds"
       ],
       "type": "object"
      },
      "type": "array"
     },
     "to": {
      "type": "string"
     },
     "toCard": {
      "type": [
       "string",
       "null"
      ]
     },
     "totalMilliseconds": {
      "type": "number"
     },
     "workload": {
      "type": "string"
     }
    },
    "required": [
     "workload",
     "shard",
     "from",
     "to",
     "outcome",
     "epoch",
     "bytes",
     "totalMilliseconds",
     "steps"
    ],
    "type": "object"
   },
   "ProbeDocument": {
    "additionalProperties": false,
    "description": "exactly one of exec, tcp, http (null means absent, as everywhere in the spec)",
    "oneOf": [
     {
      "not": {
       "anyOf": [
        {
         "properties": {
          "tcp": {
           "not": {
            "type": "null"
           }
          }
         },
         "required": [
          "tcp"
         ]
        },
        {
         "properties": {
          "http": {
           "not": {
            "type": "null"
           }
          }
         },
         "required": [
          "http"
         ]
        }
       ]
      },
      "properties": {
       "exec": {
        "not": {
         "type": "null"
        }
       }
      },
      "required": [
       "exec"
      ]
     },
     {
      "not": {
       "anyOf": [
        {
         "properties": {
          "exec": {
           "not": {
            "type": "null"
           }
          }
         },
         "required": [
          "exec"
         ]
        },
        {
         "properties": {
          "http": {
           "not": {
            "type": "null"
           }
          }
         },
         "required": [
          "http"
         ]
        }
       ]
      },
      "properties": {
       "tcp": {
        "not": {
         "type": "null"
        }
       }
      },
      "required": [
       "tcp"
      ]
     },
     {
      "not": {
       "anyOf": [
        {
         "properties": {
          "exec": {
           "not": {
            "type": "null"
           }
          }
         },
         "required": [
          "exec"
         ]
        },
        {
         "properties": {
          "tcp": {
           "not": {
            "type": "null"
           }
          }
         },
         "required": [
          "tcp"
         ]
        }
       ]
      },
      "properties": {
       "http": {
        "not": {
         "type": "null"
        }
       }
      },
      "required": [
       "http"
      ]
     },
     {
      "type": "null"
     }
    ],
    "properties": {
     "exec": {
      "items": {
       "maxLength": 4096,
       "type": "string"
      },
      "maxItems": 64,
      "minItems": 1,
      "prefixItems": [
       {
        "maxLength": 4096,
        "minLength": 1,
        "type": "string"
       }
      ],
      "type": [
       "array",
       "null"
      ]
     },
     "failure_threshold": {
      "maximum": 100,
      "minimum": 1,
      "type": [
       "integer",
       "null"
      ]
     },
     "http": {
      "additionalProperties": false,
      "properties": {
       "path": {
        "maxLength": 2048,
        "pattern": "^/[^\\s]*$",
        "type": [
         "string",
         "null"
        ]
       },
       "port": {
        "maximum": 65535,
        "minimum": 1,
        "type": "integer"
       }
      },
      "required": [
       "port"
      ],
      "type": [
       "object",
       "null"
      ]
     },
     "initial_delay": {
      "maximum": 3600,
      "minimum": 0,
      "type": [
       "integer",
       "null"
      ]
     },
     "period": {
      "maximum": 3600,
      "minimum": 1,
      "type": [
       "integer",
       "null"
      ]
     },
     "tcp": {
      "maximum": 65535,
      "minimum": 1,
      "type": [
       "integer",
       "null"
      ]
     },
     "timeout": {
      "maximum": 600,
      "minimum": 1,
      "type": [
       "integer",
       "null"
      ]
     }
    },
    "type": [
     "object",
     "null"
    ]
   },
   "Quota": {
    "description": "a tenant's quota: the most its placed instances may request in all",
    "properties": {
     "cpuMillis": {
      "minimum": 1,
      "type": "integer"
     },
     "gpuMilli": {
      "description": "milli-GPUs (1000 per GPU); absent or null: no limit",
      "minimum": 0,
      "type": [
       "integer",
       "null"
      ]
     },
     "memoryBytes": {
      "minimum": 1048576,
      "type": "integer"
     },
     "tenant": {
      "type": "string"
     }
    },
    "required": [
     "tenant",
     "cpuMillis",
     "memoryBytes"
    ],
    "type": "object"
   },
   "QuotaRequest": {
    "additionalProperties": false,
    "properties": {
     "cpu": {
      "description": "cores, or millicores with m: 1m to 1000000 cores",
      "oneOf": [
       {
        "examples": [
         "4"
        ],
        "pattern": "^([1-9][0-9]{0,8}m|[1-9][0-9]{0,5}(\\.[0-9]{1,3})?|0\\.[0-9]{0,2}[1-9])$",
        "type": "string"
       },
       {
        "maximum": 1000000,
        "minimum": 0.001,
        "type": "number"
       }
      ]
     },
     "gpu": {
      "description": "GPUs (0 to 1000000), or milli-GPUs with m; absent or null: no limit",
      "oneOf": [
       {
        "pattern": "^([1-9][0-9]{0,5}m|[0-9]{1,6})$",
        "type": "string"
       },
       {
        "maximum": 1000000,
        "minimum": 0,
        "type": "integer"
       },
       {
        "type": "null"
       }
      ]
     },
     "memory": {
      "description": "1Mi to 1Pi: a whole number of bytes, or Mi, Gi or Ti",
      "oneOf": [
       {
        "examples": [
         "8Gi"
        ],
        "pattern": "^([1-9][0-9]{0,5}(Mi|Gi|MiB|GiB)|[1-9][0-9]{0,2}(Ti|TiB))$",
        "type": "string"
       },
       {
        "maximum": 1125899906842624,
        "minimum": 1048576,
        "type": "integer"
       }
      ]
     }
    },
    "required": [
     "cpu",
     "memory"
    ],
    "type": "object"
   },
   "RangeChange": {
    "description": "What a split or a merge did",
    "properties": {
     "epoch": {
      "minimum": 0,
      "type": "integer"
     },
     "kind": {
      "enum": [
       "split",
       "merge"
      ],
      "type": "string"
     },
     "other": {
      "description": "the split's new shard, or the merged-away neighbour",
      "type": "integer"
     },
     "owner": {
      "type": "string"
     },
     "shard": {
      "description": "the shard split (keeps the lower part) or that took in its neighbour",
      "type": "integer"
     },
     "shards": {
      "items": {
       "$ref": "#/components/schemas/ShardRow"
      },
      "type": "array"
     },
     "workload": {
      "type": "string"
     }
    },
    "required": [
     "workload",
     "kind",
     "shard",
     "other",
     "owner",
     "epoch",
     "shards"
    ],
    "type": "object"
   },
   "Resources": {
    "properties": {
     "cpuMillis": {
      "type": "integer"
     },
     "memoryBytes": {
      "type": "integer"
     },
     "networkBitsPerSecond": {
      "type": "integer"
     },
     "storageIOPS": {
      "type": "integer"
     }
    },
    "type": "object"
   },
   "ShardRow": {
    "properties": {
     "bytes": {
      "type": [
       "integer",
       "null"
      ]
     },
     "card": {
      "type": [
       "string",
       "null"
      ]
     },
     "forecastBytes": {
      "description": "the largest size expected over the next 5 minutes (p99)",
      "type": [
       "number",
       "null"
      ]
     },
     "forecastRequestsPerSecond": {
      "description": "the highest request rate expected over the next 5 minutes (p99), from the cards' reports every 10 s; null until three rates were measured",
      "type": [
       "number",
       "null"
      ]
     },
     "id": {
      "type": "integer"
     },
     "lower": {
      "description": "first hash, 16 hex digits",
      "type": "string"
     },
     "migrating": {
      "type": "boolean"
     },
     "overLimit": {
      "type": "boolean"
     },
     "owner": {
      "type": "string"
     },
     "requests": {
      "type": [
       "integer",
       "null"
      ]
     },
     "requestsPerSecond": {
      "type": [
       "number",
       "null"
      ]
     },
     "share": {
      "type": "number"
     },
     "upper": {
      "type": "string"
     }
    },
    "required": [
     "id",
     "lower",
     "upper",
     "share",
     "owner",
     "migrating",
     "overLimit"
    ],
    "type": "object"
   },
   "ShardsView": {
    "properties": {
     "epoch": {
      "minimum": 0,
      "type": "integer"
     },
     "shards": {
      "items": {
       "$ref": "#/components/schemas/ShardRow"
      },
      "type": "array"
     },
     "workload": {
      "type": "string"
     }
    },
    "required": [
     "workload",
     "epoch",
     "shards"
    ],
    "type": "object"
   },
   "TokenInfo": {
    "description": "a token without its secret or hash",
    "properties": {
     "created": {
      "description": "wall-clock time",
      "properties": {
       "nanoseconds": {
        "description": "since 1970",
        "type": "integer"
       }
      },
      "required": [
       "nanoseconds"
      ],
      "type": "object"
     },
     "description": {
      "type": "string"
     },
     "expires": {
      "description": "absent: never expires",
      "properties": {
       "nanoseconds": {
        "description": "since 1970",
        "type": "integer"
       }
      },
      "required": [
       "nanoseconds"
      ],
      "type": "object"
     },
     "id": {
      "description": "16 hex digits",
      "pattern": "^[0-9a-f]{16}$",
      "type": "string"
     },
     "role": {
      "enum": [
       "bus-admin",
       "tenant-admin",
       "operator",
       "viewer",
       "join"
      ],
      "type": "string"
     },
     "tenant": {
      "description": "absent for bus-admin and join tokens",
      "type": "string"
     }
    },
    "required": [
     "id",
     "role",
     "description",
     "created"
    ],
    "type": "object"
   },
   "TokenRequest": {
    "description": "a bus-admin or join token has no tenant; a tenant-admin, operator or viewer token has one",
    "examples": [
     {
      "description": "CI deploys",
      "role": "operator",
      "tenant": "team-a",
      "ttl": "7d"
     }
    ],
    "oneOf": [
     {
      "additionalProperties": false,
      "properties": {
       "description": {
        "description": "what the token is for (at most 200 characters; no control, zero-width or bidirectional-override characters)",
        "examples": [
         "CI deploys"
        ],
        "maxLength": 200,
        "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f\\u200b-\\u200f\\u202a-\\u202e\\u2066-\\u2069\\ufeff]*$",
        "type": "string"
       },
       "role": {
        "enum": [
         "bus-admin",
         "join"
        ],
        "type": "string"
       },
       "ttl": {
        "description": "how long the token is valid: 1 to 9999 seconds (s), minutes (m), hours (h) or days (d); absent: never expires (a join token: 1h)",
        "examples": [
         "7d"
        ],
        "pattern": "^[1-9][0-9]{0,3}[smhd]$",
        "type": "string"
       }
      },
      "required": [
       "role"
      ],
      "type": "object"
     },
     {
      "additionalProperties": false,
      "properties": {
       "description": {
        "description": "what the token is for (at most 200 characters; no control, zero-width or bidirectional-override characters)",
        "examples": [
         "CI deploys"
        ],
        "maxLength": 200,
        "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f\\u200b-\\u200f\\u202a-\\u202e\\u2066-\\u2069\\ufeff]*$",
        "type": "string"
       },
       "role": {
        "enum": [
         "tenant-admin",
         "operator",
         "viewer"
        ],
        "type": "string"
       },
       "tenant": {
        "description": "the token's tenant (a tenant-admin may omit it: its own)",
        "examples": [
         "team-a"
        ],
        "maxLength": 63,
        "minLength": 1,
        "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
        "type": "string"
       },
       "ttl": {
        "description": "how long the token is valid: 1 to 9999 seconds (s), minutes (m), hours (h) or days (d); absent: never expires (a join token: 1h)",
        "examples": [
         "7d"
        ],
        "pattern": "^[1-9][0-9]{0,3}[smhd]$",
        "type": "string"
       }
      },
      "required": [
       "role",
       "tenant"
      ],
      "type": "object"
     }
    ]
   },
   "UsagePoint": {
    "description": "One instance's usage over one interval, measured by its card's profiler from the instance's cgroup.",
    "properties": {
     "cpuMillicores": {
      "description": "average CPU (1000 = one core)",
      "type": "number"
     },
     "cpuThrottledFraction": {
      "description": "share of the interval's CFS periods throttled by the CPU limit (0-1); absent without a CPU controller",
      "type": "number"
     },
     "cpuThrottledSeconds": {
      "description": "seconds per second spent throttled (cpu.stat)",
      "type": "number"
     },
     "instance": {
      "type": "string"
     },
     "ioBytesPerSecond": {
      "type": "number"
     },
     "memoryBytes": {
      "description": "mean of the interval's samples",
      "type": "number"
     },
     "memoryMaxBytes": {
      "type": "number"
     },
     "memoryPeakBytes": {
      "description": "kernel high-water mark since start",
      "type": "number"
     },
     "networkBytesPerSecond": {
      "description": "absent when the instance shares the host network",
      "type": "number"
     },
     "pids": {
      "type": "integer"
     },
     "seconds": {
      "type": "number"
     },
     "time": {
      "description": "end of the interval, seconds since 1970",
      "type": "number"
     },
     "workload": {
      "description": "<tenant>/<name>",
      "type": "string"
     }
    },
    "required": [
     "instance",
     "workload",
     "time",
     "seconds",
     "cpuMillicores",
     "memoryBytes",
     "memoryMaxBytes"
    ],
    "type": "object"
   },
   "WorkloadExplanation": {
    "description": "AWB run on the bus as it is, nothing committed: the first pending instance, else one more replica.",
    "properties": {
     "allocator": {
      "description": "what the allocator's next plan does with it",
      "properties": {
       "autoscale": {
        "type": [
         "object",
         "null"
        ]
       },
       "forecast": {
        "oneOf": [
         {
          "$ref": "#/components/schemas/AllocatorForecast"
         },
         {
          "type": "null"
         }
        ]
       },
       "moves": {
        "items": {
         "$ref": "#/components/schemas/AllocatorMove"
        },
        "type": "array"
       },
       "resizes": {
        "items": {
         "$ref": "#/components/schemas/AllocatorResize"
        },
        "type": "array"
       },
       "scale": {
        "oneOf": [
         {
          "$ref": "#/components/schemas/AllocatorScale"
         },
         {
          "type": "null"
         }
        ]
       },
       "vertical": {
        "type": "string"
       }
      },
      "type": [
       "object",
       "null"
      ]
     },
     "cards": {
      "type": "integer"
     },
     "classes": {
      "items": {
       "properties": {
        "cards": {
         "type": "integer"
        },
        "example": {
         "type": "string"
        },
        "exampleName": {
         "type": "string"
        },
        "refusals": {
         "items": {
          "type": "string"
         },
         "type": "array"
        },
        "score": {
         "type": "number"
        }
       },
       "type": "object"
      },
      "type": "array"
     },
     "decision": {
      "type": "string"
     },
     "feasibleCards": {
      "type": "integer"
     },
     "hypothetical": {
      "type": "boolean"
     },
     "instance": {
      "type": "string"
     },
     "policy": {
      "type": "string"
     },
     "refusedBy": {
      "additionalProperties": {
       "type": "integer"
      },
      "description": "cards refused per filter",
      "type": "object"
     },
     "requested": {
      "$ref": "#/components/schemas/Resources"
     },
     "top": {
      "items": {
       "properties": {
        "breakdown": {
         "additionalProperties": {
          "type": "number"
         },
         "type": "object"
        },
        "card": {
         "type": "string"
        },
        "name": {
         "type": "string"
        },
        "score": {
         "type": "number"
        }
       },
       "type": "object"
      },
      "type": "array"
     },
     "workload": {
      "type": "string"
     }
    },
    "required": [
     "workload",
     "instance",
     "hypothetical",
     "policy",
     "requested",
     "decision",
     "cards",
     "feasibleCards",
     "refusedBy",
     "classes",
     "top"
    ],
    "type": "object"
   },
   "WorkloadForecast": {
    "properties": {
     "history": {
      "items": {
       "$ref": "#/components/schemas/WorkloadPoint"
      },
      "type": "array"
     },
     "horizon": {
      "type": "string"
     },
     "horizonSeconds": {
      "type": "integer"
     },
     "limit": {
      "description": "the models' limit for the horizon",
      "properties": {
       "cpuMillicores": {
        "type": "number"
       },
       "memoryBytes": {
        "type": "number"
       },
       "quantile": {
        "type": "number"
       }
      },
      "type": "object"
     },
     "message": {
      "description": "set when no usage has arrived yet",
      "type": "string"
     },
     "model": {
      "type": "string"
     },
     "observedPoints": {
      "type": "integer"
     },
     "quantiles": {
      "description": "per quantile q: the peak over the horizon stays below it with probability q (the limit times this workload's past peak/limit ratios)",
      "items": {
       "properties": {
        "cpuMillicores": {
         "type": "number"
        },
        "memoryBytes": {
         "type": "number"
        },
        "quantile": {
         "type": "number"
        }
       },
       "required": [
        "quantile",
        "cpuMillicores",
        "memoryBytes"
       ],
       "type": "object"
      },
      "type": "array"
     },
     "stepSeconds": {
      "type": "number"
     },
     "workload": {
      "type": "string"
     }
    },
    "required": [
     "workload",
     "horizon",
     "horizonSeconds",
     "stepSeconds",
     "model",
     "observedPoints",
     "quantiles",
     "history"
    ],
    "type": "object"
   },
   "WorkloadMetrics": {
    "properties": {
     "instances": {
      "items": {
       "$ref": "#/components/schemas/InstanceUsage"
      },
      "type": "array"
     },
     "minutes": {
      "description": "1-minute means of the last day (persisted)",
      "items": {
       "$ref": "#/components/schemas/WorkloadPoint"
      },
      "type": "array"
     },
     "points": {
      "description": "the last hour at full resolution",
      "items": {
       "$ref": "#/components/schemas/WorkloadPoint"
      },
      "type": "array"
     },
     "stepSeconds": {
      "type": "number"
     },
     "workload": {
      "type": "string"
     }
    },
    "required": [
     "workload",
     "stepSeconds",
     "points",
     "minutes",
     "instances"
    ],
    "type": "object"
   },
   "WorkloadPoint": {
    "description": "A workload's usage over one step: summed over its instances.",
    "properties": {
     "cpuMillicores": {
      "type": "number"
     },
     "instances": {
      "type": "integer"
     },
     "memoryBytes": {
      "type": "number"
     },
     "memoryMaxBytes": {
      "type": "number"
     },
     "seconds": {
      "type": "number"
     },
     "time": {
      "type": "number"
     }
    },
    "required": [
     "time",
     "seconds",
     "cpuMillicores",
     "memoryBytes",
     "memoryMaxBytes",
     "instances"
    ],
    "type": "object"
   },
   "WorkloadSpec": {
    "properties": {
     "autoscale": {
      "properties": {
       "max": {
        "type": "integer"
       },
       "min": {
        "type": "integer"
       },
       "target": {
        "type": "integer"
       }
      },
      "type": "object"
     },
     "command": {
      "items": {
       "type": "string"
      },
      "type": "array"
     },
     "env": {
      "type": "object"
     },
     "gpu": {
      "$ref": "#/components/schemas/GPUDemand"
     },
     "image": {
      "type": "string"
     },
     "liveness": {
      "description": "a probe: check (exec, tcp or http), periodSeconds, timeoutSeconds, failureThreshold, initialDelaySeconds",
      "type": [
       "object",
       "null"
      ]
     },
     "name": {
      "type": "string"
     },
     "priority": {
      "type": "integer"
     },
     "readiness": {
      "description": "a probe: check (exec, tcp or http), periodSeconds, timeoutSeconds, failureThreshold, initialDelaySeconds",
      "type": [
       "object",
       "null"
      ]
     },
     "replicas": {
      "type": "integer"
     },
     "resources": {
      "$ref": "#/components/schemas/Resources"
     },
     "restart": {
      "type": "string"
     },
     "shards": {
      "properties": {
       "count": {
        "type": "integer"
       },
       "maxShardBytes": {
        "type": "integer"
       }
      },
      "required": [
       "count"
      ],
      "type": "object"
     },
     "tenant": {
      "type": "string"
     },
     "vertical": {
      "enum": [
       "auto",
       "recommend",
       "off"
      ],
      "type": "string"
     }
    },
    "type": "object"
   },
   "WorkloadSpecDocument": {
    "additionalProperties": false,
    "not": {
     "properties": {
      "autoscale": {
       "type": "object"
      },
      "shards": {
       "type": "object"
      }
     },
     "required": [
      "autoscale",
      "shards"
     ]
    },
    "properties": {
     "autoscale": {
      "additionalProperties": false,
      "description": "replicas set by the allocator from the CPU forecast: enough to keep it at target percent of the requested CPU, between min and max (HPA's rule, 10% tolerance, 5-minute scale-down window); a min above max is read as max. Not with shards",
      "properties": {
       "max": {
        "maximum": 1000,
        "minimum": 1,
        "type": "integer"
       },
       "min": {
        "default": 1,
        "maximum": 1000,
        "minimum": 1,
        "type": [
         "integer",
         "null"
        ]
       },
       "target": {
        "default": 70,
        "maximum": 100,
        "minimum": 10,
        "type": [
         "integer",
         "null"
        ]
       }
      },
      "required": [
       "max"
      ],
      "type": [
       "object",
       "null"
      ]
     },
     "command": {
      "oneOf": [
       {
        "description": "the program and its arguments",
        "items": {
         "minLength": 1,
         "type": "string"
        },
        "minItems": 1,
        "type": "array"
       },
       {
        "description": "one line run under sh -c",
        "type": "string"
       }
      ]
     },
     "env": {
      "additionalProperties": {
       "type": "string"
      },
      "description": "variable names: letters, digits and _, not starting with a digit, at most 255 characters",
      "propertyNames": {
       "maxLength": 255,
       "minLength": 1,
       "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"
      },
      "type": [
       "object",
       "null"
      ]
     },
     "image": {
      "description": "the name of an image in the cards' image store: busybox (built in) or one imported with `backplane image import NAME DIR`; never a host path",
      "examples": [
       "busybox"
      ],
      "maxLength": 128,
      "minLength": 1,
      "pattern": "^[a-z0-9][a-z0-9._-]*$",
      "type": "string"
     },
     "name": {
      "examples": [
       "web"
      ],
      "maxLength": 63,
      "minLength": 1,
      "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
      "type": "string"
     },
     "priority": {
      "default": 500,
      "maximum": 1000,
      "minimum": 0,
      "type": [
       "integer",
       "null"
      ]
     },
     "probes": {
      "additionalProperties": false,
      "description": "health checks run by the instance's card: liveness restarts, readiness is reported",
      "properties": {
       "liveness": {
        "$ref": "#/components/schemas/ProbeDocument"
       },
       "readiness": {
        "$ref": "#/components/schemas/ProbeDocument"
       }
      },
      "type": [
       "object",
       "null"
      ]
     },
     "replicas": {
      "default": 1,
      "maximum": 1000,
      "minimum": 0,
      "type": [
       "integer",
       "null"
      ]
     },
     "resources": {
      "additionalProperties": false,
      "dependentSchemas": {
       "gpu_models": {
        "anyOf": [
         {
          "description": "gpu_models is null",
          "properties": {
           "gpu_models": {
            "type": "null"
           }
          }
         },
         {
          "description": "gpu_models needs gpu",
          "properties": {
           "gpu": {
            "not": {
             "type": "null"
            }
           }
          },
          "required": [
           "gpu"
          ]
         }
        ]
       }
      },
      "properties": {
       "cpu": {
        "description": "at most 1000000 cores; more than 0",
        "oneOf": [
         {
          "examples": [
           "250m"
          ],
          "pattern": "^([1-9][0-9]{0,8}m|[1-9][0-9]{0,5}(\\.[0-9]{1,3})?|0\\.[0-9]{0,2}[1-9])$",
          "type": "string"
         },
         {
          "maximum": 1000000,
          "minimum": 0.001,
          "type": "number"
         }
        ]
       },
       "gpu": {
        "description": "GPUs per instance: whole GPUs (1 to 64) or a share of one GPU (1m to 999m)",
        "oneOf": [
         {
          "pattern": "^([1-9][0-9]{0,2}m|[1-9]|[1-5][0-9]|6[0-4])$",
          "type": "string"
         },
         {
          "maximum": 64,
          "minimum": 1,
          "type": "integer"
         },
         {
          "type": "null"
         }
        ]
       },
       "gpu_models": {
        "description": "allowed GPU device models; needs gpu unless null",
        "items": {
         "description": "no '|', ',' or line break (LF, VT, FF, CR, NEL, U+2028, U+2029)",
         "maxLength": 63,
         "minLength": 1,
         "pattern": "^[^|,\n\u000b\f\r  ]+$",
         "type": "string"
        },
        "maxItems": 32,
        "type": [
         "array",
         "null"
        ]
       },
       "memory": {
        "description": "at least 1Mi, at most 1Pi",
        "examples": [
         "128Mi"
        ],
        "pattern": "^([1-9][0-9]{0,5}(Mi|Gi|MiB|GiB)|[1-9][0-9]{0,2}(Ti|TiB))$",
        "type": "string"
       },
       "network": {
        "description": "at most 10Tbps",
        "examples": [
         "100Mbps"
        ],
        "pattern": "^([1-9][0-9]{0,5}(kbps|Mbps)|[1-9][0-9]{0,3}Gbps|10000Gbps)$",
        "type": [
         "string",
         "null"
        ]
       },
       "storage_iops": {
        "maximum": 1000000000,
        "minimum": 0,
        "type": [
         "integer",
         "null"
        ]
       }
      },
      "required": [
       "cpu",
       "memory"
      ],
      "type": "object"
     },
     "restart": {
      "enum": [
       "always",
       "on-failure",
       "never",
       null
      ],
      "type": [
       "string",
       "null"
      ]
     },
     "shards": {
      "additionalProperties": false,
      "description": "a sharded workload: the key space starts in count shards, which its replicas own between them (ARCHITECTURE.md, Sharding and migration)",
      "properties": {
       "count": {
        "description": "how many shards the key space starts in",
        "maximum": 4096,
        "minimum": 1,
        "type": "integer"
       },
       "max_shard_bytes": {
        "description": "a shard larger than this is marked as due for a split; at least 1Mi, at most 1Pi",
        "examples": [
         "128Mi"
        ],
        "pattern": "^([1-9][0-9]{0,5}(Mi|Gi|MiB|GiB)|[1-9][0-9]{0,2}(Ti|TiB))$",
        "type": [
         "string",
         "null"
        ]
       }
      },
      "required": [
       "count"
      ],
      "type": [
       "object",
       "null"
      ]
     },
     "tenant": {
      "default": "default",
      "examples": [
       "default"
      ],
      "maxLength": 63,
      "minLength": 1,
      "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
      "type": [
       "string",
       "null"
      ]
     },
     "vertical": {
      "default": "recommend",
      "description": "whether the Resource Allocator resizes the instances' CPU and memory limits in place (runc update): auto applies, recommend only shows it in `backplane plan`, off leaves the workload out",
      "enum": [
       "auto",
       "recommend",
       "off",
       null
      ],
      "type": [
       "string",
       "null"
      ]
     }
    },
    "required": [
     "name",
     "image",
     "command",
     "resources"
    ],
    "type": "object"
   },
   "WorkloadStatus": {
    "properties": {
     "lastExit": {
      "description": "the most recent exit of an instance that restarted or waits to (a crash loop's why)",
      "properties": {
       "exitCode": {
        "type": [
         "integer",
         "null"
        ]
       },
       "instance": {
        "type": "string"
       },
       "nextRestart": {
        "description": "wall-clock nanoseconds since 1970",
        "type": [
         "integer",
         "null"
        ]
       },
       "reason": {
        "type": [
         "string",
         "null"
        ]
       },
       "restarts": {
        "type": "integer"
       }
      },
      "required": [
       "instance",
       "restarts"
      ],
      "type": [
       "object",
       "null"
      ]
     },
     "name": {
      "type": "string"
     },
     "pending": {
      "minimum": 0,
      "type": "integer"
     },
     "pendingReason": {
      "type": [
       "string",
       "null"
      ]
     },
     "quarantineReason": {
      "type": [
       "string",
       "null"
      ]
     },
     "running": {
      "minimum": 0,
      "type": "integer"
     },
     "spec": {
      "$ref": "#/components/schemas/WorkloadSpec"
     },
     "state": {
      "description": "quarantined: the stored record does not decode or validate; it is never reconciled until deleted or replaced",
      "enum": [
       "active",
       "quarantined"
      ],
      "type": "string"
     },
     "tenant": {
      "type": "string"
     }
    },
    "required": [
     "name",
     "tenant",
     "state",
     "running",
     "pending"
    ],
    "type": "object"
   }
  },
  "securitySchemes": {
   "bearer": {
    "description": "An API token bpt_<id>.<secret> (`backplane up` writes the bus-admin token to the client config; `backplane token create` makes others). Roles: bus-admin (everything), tenant-admin, operator, viewer (one tenant each). Join tokens are refused here.",
    "scheme": "bearer",
    "type": "http"
   }
  }
 },
 "info": {
  "description": "The Bus Management Controller's API. Errors are {\"error\": {\"code\", \"message\", \"details\"}} with details mapping each bad field to its message. Bodies are at most 1 MiB (413 above); a known path with another method is 405 with Allow; names (workload, tenant) are 1 to 63 lowercase letters, digits and '-'. Prometheus metrics are at /metrics (text format 0.0.4). Every operation but GET /v1/openapi.json needs Authorization: Bearer <token>: 401 (with WWW-Authenticate) without a valid API token, 403 when the token's role or tenant does not allow the request. Reads are scoped to the token's tenant (a bus-admin sees all): another tenant's named object is 404, another tenant's list or a change there 403; a request that names no tenant acts in the token's (a bus-admin's: default).",
  "title": "Backplane BMC API",
  "version": "1"
 },
 "openapi": "3.1.0",
 "paths": {
  "/metrics": {
   "get": {
    "responses": {
     "200": {
      "content": {
       "text/plain; version=0.0.4; charset=utf-8": {
        "schema": {
         "type": "string"
        }
       }
      },
      "description": "text format 0.0.4"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Prometheus metrics of this BMC (API requests by route, method and status; cards, instances, ...)"
   }
  },
  "/v1/audit": {
   "get": {
    "parameters": [
     {
      "in": "query",
      "name": "since",
      "required": false,
      "schema": {
       "description": "seconds since 1970",
       "maximum": 10000000000,
       "minimum": 0,
       "type": "number"
      }
     },
     {
      "in": "query",
      "name": "limit",
      "required": false,
      "schema": {
       "default": 1000,
       "maximum": 10000,
       "minimum": 1,
       "type": "integer"
      }
     },
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "description": "only this tenant's (default: the token's tenant; a bus-admin: every tenant). Another tenant's: 403",
       "examples": [
        "team-a"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "items": {
          "$ref": "#/components/schemas/AuditEntry"
         },
         "type": "array"
        }
       }
      },
      "description": "the entries"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "The changes asked of the API, oldest first (the newest limit of them)"
   }
  },
  "/v1/cards": {
   "get": {
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "items": {
          "$ref": "#/components/schemas/CardStatus"
         },
         "type": "array"
        }
       }
      },
      "description": "cards"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Cards on the bus with capacity and allocation"
   }
  },
  "/v1/cards/{id}": {
   "delete": {
    "parameters": [
     {
      "in": "path",
      "name": "id",
      "required": true,
      "schema": {
       "examples": [
        "c-0001-000000"
       ],
       "pattern": "^c-[0-9a-f]{4}-[0-9a-f]{6}$",
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/CardStatus"
        }
       }
      },
      "description": "the card, its certificate revoked (state removed if it was already lost; otherwise it is lost once its lease lapses)"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Remove a card: revoke its certificate and cut its link (it cannot link again); its instances are placed again once its lease has lapsed"
   }
  },
  "/v1/cards/{id}/drain": {
   "post": {
    "parameters": [
     {
      "in": "path",
      "name": "id",
      "required": true,
      "schema": {
       "examples": [
        "c-0001-000000"
       ],
       "pattern": "^c-[0-9a-f]{4}-[0-9a-f]{6}$",
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/CardStatus"
        }
       }
      },
      "description": "the card, now draining"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Drain a card: no new placements, instances move elsewhere; removed once it leaves"
   }
  },
  "/v1/events": {
   "get": {
    "parameters": [
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "description": "only this tenant's (default: the token's tenant; a bus-admin: every tenant). Another tenant's: 403",
       "examples": [
        "team-a"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "items": {
          "$ref": "#/components/schemas/BusEvent"
         },
         "type": "array"
        }
       }
      },
      "description": "events"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Recent bus events, oldest first"
   }
  },
  "/v1/instances": {
   "get": {
    "parameters": [
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "description": "only this tenant's (default: the token's tenant; a bus-admin: every tenant). Another tenant's: 403",
       "examples": [
        "team-a"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "items": {
          "$ref": "#/components/schemas/Instance"
         },
         "type": "array"
        }
       }
      },
      "description": "instances"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Every instance with card, state, runtime and host PID"
   }
  },
  "/v1/instances/{id}/logs": {
   "get": {
    "parameters": [
     {
      "in": "path",
      "name": "id",
      "required": true,
      "schema": {
       "description": "<workload>-<ordinal> in the default tenant, <tenant>_<workload>-<ordinal> in another",
       "examples": [
        "web-0",
        "team-a_web-0"
       ],
       "maxLength": 148,
       "minLength": 3,
       "pattern": "^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?_)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?-[0-9]{1,19}$",
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "text/plain": {
        "schema": {
         "type": "string"
        }
       }
      },
      "description": "text"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "The tail of an instance's stdout and stderr"
   }
  },
  "/v1/metrics": {
   "get": {
    "parameters": [
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "description": "only this tenant's (default: the token's tenant; a bus-admin: every tenant). Another tenant's: 403",
       "examples": [
        "team-a"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "items": {
          "$ref": "#/components/schemas/InstanceUsage"
         },
         "type": "array"
        }
       }
      },
      "description": "latest usage per instance"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "The latest usage point of every instance that reported in the last minute"
   }
  },
  "/v1/openapi.json": {
   "get": {
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "type": "object"
        }
       }
      },
      "description": "OpenAPI 3"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "security": [],
    "summary": "This document"
   }
  },
  "/v1/plan": {
   "get": {
    "parameters": [
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "description": "only this tenant's (default: the token's tenant; a bus-admin: every tenant). Another tenant's: 403",
       "examples": [
        "team-a"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/AllocatorPlan"
        }
       }
      },
      "description": "the next plan"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "The Resource Allocator's next plan (resizes, replica changes, moves, idle cards, card requests), not applied"
   }
  },
  "/v1/quotas": {
   "get": {
    "parameters": [
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "description": "only this tenant's (default: the token's tenant; a bus-admin: every tenant). Another tenant's: 403",
       "examples": [
        "team-a"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "items": {
          "$ref": "#/components/schemas/Quota"
         },
         "type": "array"
        }
       }
      },
      "description": "the quotas"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Every tenant's quota"
   }
  },
  "/v1/quotas/{tenant}": {
   "delete": {
    "parameters": [
     {
      "in": "path",
      "name": "tenant",
      "required": true,
      "schema": {
       "examples": [
        "team-a"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     }
    ],
    "responses": {
     "204": {
      "description": "removed"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Remove a tenant's quota"
   },
   "put": {
    "parameters": [
     {
      "in": "path",
      "name": "tenant",
      "required": true,
      "schema": {
       "examples": [
        "team-a"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     }
    ],
    "requestBody": {
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/QuotaRequest"
       }
      }
     },
     "required": true
    },
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Quota"
        }
       }
      },
      "description": "the quota as stored"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Set a tenant's quota (instances over it stay pending with the reason)"
   }
  },
  "/v1/tokens": {
   "get": {
    "parameters": [
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "description": "only this tenant's (default: the token's tenant; a bus-admin: every tenant). Another tenant's: 403",
       "examples": [
        "team-a"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "items": {
          "$ref": "#/components/schemas/TokenInfo"
         },
         "type": "array"
        }
       }
      },
      "description": "tokens, oldest first"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "List tokens, never their secrets (bus-admin: all, or ?tenant=; tenant-admin: its tenant's)"
   },
   "post": {
    "requestBody": {
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/TokenRequest"
       }
      }
     },
     "required": true
    },
    "responses": {
     "201": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/IssuedToken"
        }
       }
      },
      "description": "the token (shown once)"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Create a token; the answer holds it once (a tenant-admin: tenant-admin, operator and viewer tokens of its tenant; join tokens: bus-admin)"
   }
  },
  "/v1/tokens/{id}": {
   "delete": {
    "parameters": [
     {
      "in": "path",
      "name": "id",
      "required": true,
      "schema": {
       "description": "16 hex digits",
       "examples": [
        "0123456789abcdef"
       ],
       "pattern": "^[0-9a-f]{16}$",
       "type": "string"
      }
     }
    ],
    "responses": {
     "204": {
      "description": "revoked"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Revoke a token: refused from now on (another tenant's token: 404)"
   }
  },
  "/v1/workloads": {
   "get": {
    "parameters": [
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "description": "only this tenant's (default: the token's tenant; a bus-admin: every tenant). Another tenant's: 403",
       "examples": [
        "team-a"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "items": {
          "$ref": "#/components/schemas/WorkloadStatus"
         },
         "type": "array"
        }
       }
      },
      "description": "workloads"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Workloads with running and pending counts"
   },
   "post": {
    "requestBody": {
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/WorkloadSpecDocument"
       }
      },
      "application/yaml": {
       "schema": {
        "$ref": "#/components/schemas/WorkloadSpecDocument"
       }
      }
     },
     "required": true
    },
    "responses": {
     "201": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/WorkloadSpec"
        }
       }
      },
      "description": "the stored spec"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Create or replace a workload (JSON or YAML spec)"
   }
  },
  "/v1/workloads/{name}": {
   "delete": {
    "parameters": [
     {
      "in": "path",
      "name": "name",
      "required": true,
      "schema": {
       "examples": [
        "web"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "description": "default: the token's tenant (a bus-admin's: default). Another tenant's object is 404 to a read, 403 to a change",
       "examples": [
        "default"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     }
    ],
    "responses": {
     "204": {
      "description": "deleted"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Delete a workload; its instances stop"
   },
   "get": {
    "parameters": [
     {
      "in": "path",
      "name": "name",
      "required": true,
      "schema": {
       "examples": [
        "web"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "description": "default: the token's tenant (a bus-admin's: default). Another tenant's object is 404 to a read, 403 to a change",
       "examples": [
        "default"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/WorkloadStatus"
        }
       }
      },
      "description": "status"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "One workload's status"
   }
  },
  "/v1/workloads/{name}/explain": {
   "get": {
    "parameters": [
     {
      "in": "path",
      "name": "name",
      "required": true,
      "schema": {
       "examples": [
        "web"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "description": "default: the token's tenant (a bus-admin's: default). Another tenant's object is 404 to a read, 403 to a change",
       "examples": [
        "default"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/WorkloadExplanation"
        }
       }
      },
      "description": "explanation"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Why the workload's instance goes where it goes, or is pending (AWB, nothing committed)"
   }
  },
  "/v1/workloads/{name}/forecast": {
   "get": {
    "parameters": [
     {
      "in": "path",
      "name": "name",
      "required": true,
      "schema": {
       "examples": [
        "web"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "description": "default: the token's tenant (a bus-admin's: default). Another tenant's object is 404 to a read, 403 to a change",
       "examples": [
        "default"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "horizon",
      "required": false,
      "schema": {
       "default": "5m",
       "enum": [
        "1m",
        "5m",
        "1h"
       ],
       "type": "string"
      }
     },
     {
      "description": "1 to 9 comma-separated numbers in (0, 1)",
      "in": "query",
      "name": "quantiles",
      "required": false,
      "schema": {
       "default": "0.5,0.9,0.99",
       "maxLength": 200,
       "pattern": "^(0\\.[0-9]*[1-9][0-9]*)(,0\\.[0-9]*[1-9][0-9]*){0,8}$",
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/WorkloadForecast"
        }
       }
      },
      "description": "forecast"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Forecast limits per quantile for a horizon, with recent history"
   }
  },
  "/v1/workloads/{name}/metrics": {
   "get": {
    "parameters": [
     {
      "in": "path",
      "name": "name",
      "required": true,
      "schema": {
       "examples": [
        "web"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "description": "default: the token's tenant (a bus-admin's: default). Another tenant's object is 404 to a read, 403 to a change",
       "examples": [
        "default"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     },
     {
      "description": "only points after this time (seconds since 1970)",
      "in": "query",
      "name": "since",
      "required": false,
      "schema": {
       "type": "number"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/WorkloadMetrics"
        }
       }
      },
      "description": "usage"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "A workload's usage: the last hour at 10 s, the last day at 1 min, each instance's latest point"
   }
  },
  "/v1/workloads/{name}/scale": {
   "post": {
    "parameters": [
     {
      "in": "path",
      "name": "name",
      "required": true,
      "schema": {
       "examples": [
        "web"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "description": "default: the token's tenant (a bus-admin's: default). Another tenant's object is 404 to a read, 403 to a change",
       "examples": [
        "default"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     }
    ],
    "requestBody": {
     "content": {
      "application/json": {
       "schema": {
        "properties": {
         "replicas": {
          "maximum": 1000,
          "minimum": 0,
          "type": "integer"
         }
        },
        "required": [
         "replicas"
        ],
        "type": "object"
       }
      }
     },
     "required": true
    },
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/WorkloadSpec"
        }
       }
      },
      "description": "the updated spec"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Set the replica count"
   }
  },
  "/v1/workloads/{name}/shards": {
   "get": {
    "description": "One row per shard: its range of the 64-bit key-hash space, the owning instance and its card, requests and bytes as the cards report them (null for a card that did not answer), and whether it is moving. 409 for a workload that is not sharded or has no map yet.",
    "parameters": [
     {
      "in": "path",
      "name": "name",
      "required": true,
      "schema": {
       "examples": [
        "web"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "description": "default: the token's tenant (a bus-admin's: default). Another tenant's object is 404 to a read, 403 to a change",
       "examples": [
        "default"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ShardsView"
        }
       }
      },
      "description": "the map"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "A sharded workload's shard map with each shard's load"
   }
  },
  "/v1/workloads/{name}/shards/{shard}/merge": {
   "post": {
    "description": "The shard takes in the range of the shard right above it in the hash space and keeps its id. Both must belong to the same instance (migrate one first). 409 when it cannot (not sharded, no such shard, no neighbour above, different owners, one is moving).",
    "parameters": [
     {
      "in": "path",
      "name": "name",
      "required": true,
      "schema": {
       "examples": [
        "web"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "description": "default: the token's tenant (a bus-admin's: default). Another tenant's object is 404 to a read, 403 to a change",
       "examples": [
        "default"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     },
     {
      "in": "path",
      "name": "shard",
      "required": true,
      "schema": {
       "examples": [
        3
       ],
       "maximum": 4294967295,
       "minimum": 0,
       "type": "integer"
      }
     }
    ],
    "requestBody": {
     "content": {
      "application/json": {
       "schema": {
        "additionalProperties": false,
        "properties": {},
        "type": "object"
       }
      }
     },
     "required": false
    },
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/RangeChange"
        }
       }
      },
      "description": "the shard after the merge"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Merge one shard with its neighbour above (same owner; no data moves)"
   }
  },
  "/v1/workloads/{name}/shards/{shard}/migrate": {
   "post": {
    "description": "Answered when the migration is done or aborted (`outcome`), with each step's duration and the cut-over pause. `to`: a card where an instance of the workload runs; `instance`: that instance; neither: the running instance with the fewest shards. 409 when it cannot start (not sharded, no such shard, no target, already moving).",
    "parameters": [
     {
      "in": "path",
      "name": "name",
      "required": true,
      "schema": {
       "examples": [
        "web"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "description": "default: the token's tenant (a bus-admin's: default). Another tenant's object is 404 to a read, 403 to a change",
       "examples": [
        "default"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     },
     {
      "in": "path",
      "name": "shard",
      "required": true,
      "schema": {
       "examples": [
        3
       ],
       "maximum": 4294967295,
       "minimum": 0,
       "type": "integer"
      }
     }
    ],
    "requestBody": {
     "content": {
      "application/json": {
       "schema": {
        "additionalProperties": false,
        "properties": {
         "instance": {
          "examples": [
           "kv-1"
          ],
          "pattern": "^[a-z0-9_-]{1,148}$",
          "type": [
           "string",
           "null"
          ]
         },
         "to": {
          "examples": [
           "c-0001-000002"
          ],
          "pattern": "^c-[0-9a-f]{4}-[0-9a-f]{6}$",
          "type": [
           "string",
           "null"
          ]
         }
        },
        "type": "object"
       }
      }
     },
     "required": false
    },
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/MigrationReport"
        }
       }
      },
      "description": "the migration's report"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Move one shard to another instance, live (make-before-break)"
   }
  },
  "/v1/workloads/{name}/shards/{shard}/split": {
   "post": {
    "description": "The lower part keeps the shard's id, the upper part `[at, upper]` gets the highest id + 1; both stay with the owner (migrate one afterwards). `at`: a key hash in hex inside the shard above its first hash; absent: the middle. Apps keep data by key hash, so nothing is copied and no request waits. 409 when it cannot (not sharded, no such shard, `at` outside, the shard is moving).",
    "parameters": [
     {
      "in": "path",
      "name": "name",
      "required": true,
      "schema": {
       "examples": [
        "web"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "description": "default: the token's tenant (a bus-admin's: default). Another tenant's object is 404 to a read, 403 to a change",
       "examples": [
        "default"
       ],
       "maxLength": 63,
       "minLength": 1,
       "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
       "type": "string"
      }
     },
     {
      "in": "path",
      "name": "shard",
      "required": true,
      "schema": {
       "examples": [
        3
       ],
       "maximum": 4294967295,
       "minimum": 0,
       "type": "integer"
      }
     }
    ],
    "requestBody": {
     "content": {
      "application/json": {
       "schema": {
        "additionalProperties": false,
        "properties": {
         "at": {
          "examples": [
           "8000000000000000"
          ],
          "pattern": "^[0-9a-fA-F]{1,16}$",
          "type": [
           "string",
           "null"
          ]
         }
        },
        "type": "object"
       }
      }
     },
     "required": false
    },
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/RangeChange"
        }
       }
      },
      "description": "the shards after the split"
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "405": {
      "$ref": "#/components/responses/MethodNotAllowed"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/PayloadTooLarge"
     },
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Split one shard's hash range in two (no data moves)"
   }
  }
 },
 "security": [
  {
   "bearer": []
  }
 ]
}
"""#
}
