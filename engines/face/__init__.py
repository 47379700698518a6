"""Face engines: dlib HOG detection + landmarks, 250x250 warps, dlib ResNet descriptors."""
