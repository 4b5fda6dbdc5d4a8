/// The API's OpenAPI 3 document, served at `/v1/openapi.json` (keep in step with `APIServer`).
enum OpenAPIDocument {
    static let text = #"""
{
 "components": {
  "responses": {
   "Error": {
    "content": {
     "application/json": {
      "schema": {
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
            "internal"
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
       "type": "object"
      }
     }
    },
    "description": "failure"
   }
  },
  "schemas": {
   "BusEvent": {
    "properties": {
     "kind": {
      "type": "string"
     },
     "message": {
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
     "id": {
      "example": "c-0001-000000",
      "type": "string"
     },
     "instances": {
      "type": "integer"
     },
     "inventory": {
      "description": "the host's cores, memory, disks, network interfaces and PCI devices",
      "nullable": true,
      "type": "object"
     },
     "name": {
      "type": "string"
     },
     "state": {
      "enum": [
       "joining",
       "ready",
       "draining",
       "lost",
       "removed"
      ],
      "type": "string"
     }
    },
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
      "nullable": true,
      "type": "string"
     },
     "containerID": {
      "nullable": true,
      "type": "string"
     },
     "exitCode": {
      "nullable": true,
      "type": "integer"
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
     "pendingReason": {
      "nullable": true,
      "type": "object"
     },
     "pid": {
      "nullable": true,
      "type": "integer"
     },
     "priority": {
      "type": "integer"
     },
     "requested": {
      "$ref": "#/components/schemas/Resources"
     },
     "restarts": {
      "type": "integer"
     },
     "runtime": {
      "nullable": true,
      "type": "string"
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
   "UsagePoint": {
    "description": "One instance's usage over one interval, measured by its card's profiler from the instance's cgroup.",
    "properties": {
     "cpuMillicores": {
      "description": "average CPU (1000 = one core)",
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
     "name": {
      "type": "string"
     },
     "priority": {
      "type": "integer"
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
     "tenant": {
      "type": "string"
     }
    },
    "type": "object"
   },
   "WorkloadSpecDocument": {
    "additionalProperties": false,
    "properties": {
     "command": {
      "oneOf": [
       {
        "items": {
         "type": "string"
        },
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
      "type": "object"
     },
     "image": {
      "description": "busybox or an absolute rootfs directory",
      "type": "string"
     },
     "name": {
      "type": "string"
     },
     "priority": {
      "default": 500,
      "maximum": 1000,
      "minimum": 0,
      "type": "integer"
     },
     "replicas": {
      "default": 1,
      "maximum": 1000,
      "minimum": 0,
      "type": "integer"
     },
     "resources": {
      "additionalProperties": false,
      "properties": {
       "cpu": {
        "example": "250m",
        "type": "string"
       },
       "gpu": {
        "description": "GPUs per instance: whole GPUs (1, 2) or a share of one GPU (500m, 0.25)",
        "oneOf": [
         {
          "type": "string"
         },
         {
          "type": "number"
         }
        ]
       },
       "gpu_models": {
        "description": "allowed GPU device models (needs gpu)",
        "items": {
         "type": "string"
        },
        "type": "array"
       },
       "memory": {
        "example": "128Mi",
        "type": "string"
       },
       "network": {
        "example": "100Mbps",
        "type": "string"
       },
       "storage_iops": {
        "type": "integer"
       }
      },
      "type": "object"
     },
     "restart": {
      "enum": [
       "always",
       "on-failure",
       "never"
      ],
      "type": "string"
     },
     "tenant": {
      "default": "default",
      "type": "string"
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
     "pending": {
      "type": "integer"
     },
     "pendingReason": {
      "nullable": true,
      "type": "string"
     },
     "running": {
      "type": "integer"
     },
     "spec": {
      "$ref": "#/components/schemas/WorkloadSpec"
     }
    },
    "type": "object"
   }
  }
 },
 "info": {
  "description": "The Bus Management Controller's API. Errors are {\"error\": {\"code\", \"message\", \"details\"}}.",
  "title": "Backplane BMC API",
  "version": "1"
 },
 "openapi": "3.0.3",
 "paths": {
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
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Cards on the bus with capacity and allocation"
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
       "example": "c-0001-000000",
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
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Drain a card: no new placements, instances move elsewhere; removed once it leaves"
   }
  },
  "/v1/events": {
   "get": {
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
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Recent bus events, oldest first"
   }
  },
  "/v1/instances": {
   "get": {
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
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "The tail of an instance's stdout and stderr"
   }
  },
  "/v1/metrics": {
   "get": {
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
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "This document"
   }
  },
  "/v1/workloads": {
   "get": {
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
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "default": "default",
       "type": "string"
      }
     }
    ],
    "responses": {
     "204": {
      "description": "deleted"
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
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "default": "default",
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
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "default": "default",
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
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "default": "default",
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
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "default": "default",
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
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "tenant",
      "required": false,
      "schema": {
       "default": "default",
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
     "default": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Set the replica count"
   }
  }
 }
}
"""#
}
