"""Print the MediaPipe Pose landmarks of a webcam, one frame per line, for live recognition:

    python examples/mediapipe_webcam.py pose_landmarker_full.task | skelemix predict MODEL --stream - --hop 8

Needs `pip install mediapipe opencv-python` and a Pose Landmarker model bundle (pose_landmarker_full.task, from the
MediaPipe Pose Landmarker page). A second argument picks another camera (default 0). Ctrl+C stops.
"""
import json
import sys
import time

import cv2
import mediapipe as mp

options = mp.tasks.vision.PoseLandmarkerOptions(base_options=mp.tasks.BaseOptions(model_asset_path=sys.argv[1]),
                                                running_mode=mp.tasks.vision.RunningMode.VIDEO)
camera, start = cv2.VideoCapture(int(sys.argv[2]) if len(sys.argv) > 2 else 0), time.monotonic()
with mp.tasks.vision.PoseLandmarker.create_from_options(options) as landmarker:
    while (frame := camera.read())[0]:
        height, width = frame[1].shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(frame[1], cv2.COLOR_BGR2RGB))
        poses = landmarker.detect_for_video(image, int(1000 * (time.monotonic() - start))).pose_landmarks
        # pixels, so that x and y share one unit; [] when nobody is in view
        print(json.dumps([[p.x * width, p.y * height, p.z * width, p.visibility] for p in poses[0]] if poses else []),
              flush=True)
