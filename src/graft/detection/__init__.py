"""Object detection: a trainable PyTorch port of the COCO SSD-MobileNetV2 (see ``graft.detection.ssd_coco``)."""
